"""The operator's command line: `./handoff ops ...` or `python -m ops ...`.

Reads Kafka (topics, consumer-group lag, events, dead letters), replays dead letters
once their cause is fixed, and prints a lead's timeline from the feedback service.
"""
