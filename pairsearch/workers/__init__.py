"""Worker processes both stages stand on: the claim loop, the supervisor, the final-stage worker."""
