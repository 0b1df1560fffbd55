"""`iit dashboard`: a read-only web page over a node, as a gRPC client of it."""
