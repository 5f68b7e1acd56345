"""The Quick start demo against the running stack: every sample lead reaches a decision."""

from devstack.demo import SAMPLE_LEADS, run_demo


def test_demo_routes_the_good_fits_and_nurtures_the_rest(stack, capsys):
    results = run_demo(stack)
    assert len(results) == len(SAMPLE_LEADS)
    destinations = [r.destination for r in results]
    assert all(d.startswith("routed to ") for d in destinations[:3])
    assert destinations[3:] == ["nurture", "nurture"]
    assert len(set(destinations[:3])) == 3  # three good fits, three different owners in turn
    printed = capsys.readouterr().out
    assert all(r.email in printed for r in results)
