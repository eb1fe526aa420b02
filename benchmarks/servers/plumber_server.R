# R's own web serving of an Azure ML style score.R: plumber (Debian's r-cran-plumber) in one R
# process, the way an R team would serve the glm without mlws. POST /score hands the raw body to
# the function init() returned and sends its JSON back unchanged (no parsing of the body by plumber,
# no serializer: the same work mlws's R worker does); GET /ready answers once init() has run.
# Usage: Rscript plumber_server.R score.R PORT
suppressPackageStartupMessages(library(plumber))
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
scorer <- init()

# A parser for JSON that leaves the body alone: score.R parses req$postBody itself (as under mlws),
# and plumber's own JSON parser would parse every body a second time.
register_parser("untouched", function(...) function(value, ...) NULL, fixed = "application/json")

api <- pr()
api <- pr_get(api, "/ready", function(res) {
  res$body <- "ready"
  res
})
api <- pr_post(api, "/score", function(req, res) {
  res$setHeader("Content-Type", "application/json")
  res$body <- as.character(scorer(req$postBody))
  res
}, parsers = "untouched")
pr_run(api, host = "127.0.0.1", port = as.integer(args[2]), docs = FALSE, quiet = TRUE)
