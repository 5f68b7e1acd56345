"""The one exception type devstack raises for problems a developer can act on."""


class DevstackError(RuntimeError):
    """A component failed to fetch, start or become ready; the message says what to look at."""
