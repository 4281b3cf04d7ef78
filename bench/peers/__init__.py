"""Side-by-side benchmark of edge-agent against peer gateways (issue 19 item 6)."""
