"""The user portal: sign-in, the enrollment wizard (seed 004) and
self-service (seed 003), on the web foundation of radmfa.web."""
