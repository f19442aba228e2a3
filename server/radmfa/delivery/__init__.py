"""Sending things out of radmfa: mail (SMTP), webhooks, and later SMS, voice and push."""
