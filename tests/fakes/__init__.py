"""Local fakes that speak real providers' APIs over real HTTP/SMTP (Twilio,
ntfy, an SMTP sink), for what cannot run here. Each runs in a thread with
its own event loop, so a radmfa subprocess and sync tests can both use it."""
