"""The strangler-fig facade: one front door that routes each request to the old or the new side.

Modules, by role:
    settings  environment knobs (deadline budget, caps, where the routing table lives)
    table     the routing table: parse, validate, match a request to a route
    split     which side serves a request: override header, canary weight, stickiness
    headers   what crosses the hop: hop-by-hop stripping, X-Forwarded-*, X-Request-ID, budget
    server    the HTTP/1.1 server the clients talk to
    client    the upstream side: pooled keep-alive connections
    proxy     one proxied request: whole or streamed, HEAD as GET, 502/504, shadow copies
    shadow    parallel run: compare old's and new's answers, ignoring volatile fields
    reload    watch the table file and swap the live table without a restart
    metrics   Prometheus counters and histograms behind /-/metrics
    app       ties them together: from the table to the proxy, and the /-/ pages
"""
