"""AWS publishing of a detector's results: requests for Glue, Athena and QuickSight."""
