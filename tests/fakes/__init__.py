"""Fakes for what cannot run here. Most are local fakes that speak real
providers' APIs over real HTTP/SMTP (Twilio, ntfy, an SMTP sink), each in a
thread with its own event loop, so a radmfa subprocess and sync tests can
both use it. ports.py holds in-memory fakes of the core's ports, to drive
the pipeline in unit tests."""
