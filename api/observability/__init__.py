"""What an operator watches: Prometheus metrics and the positions of the log's followers."""
