"""Two versions of a reviewed document compared field by field, rules and owners by name."""

from shared.document_diff import FieldChange, diff


def test_the_same_document_has_no_changes() -> None:
    body = {"version": "1", "rules": [{"name": "a", "when": {"country": ["US"]}}], "owners": []}
    assert diff(body, body) == []


def test_a_changed_value_names_its_field_and_both_values() -> None:
    before = {"thresholds": {"mql": 50, "fast_track": 90}}
    after = {"thresholds": {"mql": 55, "fast_track": 90}}
    assert diff(before, after) == [FieldChange("thresholds.mql", "changed", 50, 55)]


def test_a_rule_inserted_first_is_one_addition_not_every_rule_changed() -> None:
    a = {"name": "a", "team": "x"}
    b = {"name": "b", "team": "y"}
    new = {"name": "new", "team": "z"}
    assert diff({"rules": [a, b]}, {"rules": [new, a, b]}) == [FieldChange("rules[new]", "added", after=new)]


def test_items_with_ids_are_compared_by_id_and_a_move_in_order_is_a_change() -> None:
    before = {"rules": [{"name": "a", "cap": 1}, {"name": "b", "cap": 2}]}
    after = {"rules": [{"name": "b", "cap": 3}, {"name": "a", "cap": 1}]}
    assert diff(before, after) == [
        FieldChange("rules[b].cap", "changed", 2, 3),
        FieldChange("rules.order", "changed", ["a", "b"], ["b", "a"]),
    ]


def test_removed_and_added_fields_and_list_items_by_position() -> None:
    before = {"owners": [{"id": "ana", "weight": 1}], "queue": [1, 2, 3], "old": True}
    after = {"owners": [], "queue": [1, 5], "new": "x"}
    assert diff(before, after) == [
        FieldChange("owners[ana]", "removed", before={"id": "ana", "weight": 1}),
        FieldChange("queue.1", "changed", 2, 5),
        FieldChange("queue.2", "removed", before=3),
        FieldChange("old", "removed", before=True),
        FieldChange("new", "added", after="x"),
    ]


def test_a_value_of_another_type_is_a_change_even_when_python_calls_them_equal() -> None:
    assert diff({"weight": 1}, {"weight": True}) == [FieldChange("weight", "changed", 1, True)]
    assert diff({"weight": 1}, {"weight": 1.0}) == [FieldChange("weight", "changed", 1, 1.0)]
