# What one scoring call costs in R itself, with no server: source score.R, run init(), then time
# CALLS calls of the returned function on the benchmark's request body (after a warm-up). Prints one
# JSON object: {"calls": N, "seconds_per_call": s}. An R worker can answer at most 1/s requests a
# second, so a server with W R workers cannot beat W/s: the ceiling mlws is measured against.
# Usage: Rscript r_call_cost.R score.R BODY_FILE [CALLS]
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
scorer <- init()
body <- readChar(args[2], file.info(args[2])$size, useBytes = TRUE)
calls <- if (length(args) >= 3) as.integer(args[3]) else 2000L
for (i in seq_len(100L)) invisible(scorer(body))
started <- proc.time()[["elapsed"]]
for (i in seq_len(calls)) invisible(scorer(body))
elapsed <- proc.time()[["elapsed"]] - started
cat(sprintf('{"calls": %d, "seconds_per_call": %.9f}\n', calls, elapsed / calls))
