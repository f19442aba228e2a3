"""Real peers for integration tests: FreeRADIUS, radclient and a raw UDP NAS.

Nothing here imports radmfa: the harness drives the same programs a deployment
talks to, so a test that passes against it says something about the real world.
"""
