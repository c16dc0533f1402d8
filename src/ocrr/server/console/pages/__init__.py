"""The console's pages and the script's JSON calls, one router per group, mounted in this
order by :mod:`ocrr.server.console.routes`: signing in (:mod:`.login`), the review queue
(:mod:`.queue`), the ledger (:mod:`.ledger`) and the dashboard (:mod:`.dashboard`)."""
