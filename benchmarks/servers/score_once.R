# Score one request with an Azure ML style score.R: source it, run init(), apply the returned
# function to the JSON read from stdin, print the JSON answer. Usage: Rscript score_once.R score.R
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
scorer <- init()
con <- file("stdin")
input <- paste(readLines(con, warn = FALSE), collapse = "\n")
close(con)
cat(scorer(input))
