# Train the seed's accident model (Azure ML R SDK tutorial) and save it for scoring.
#
# Usage: Rscript train.R [path/to/nassCDS.csv] [path/to/model.rds]
# Defaults: ../../../shared/data/nassCDS.csv and model/model.rds, relative to this folder.
#
# Recipe (shared/data/README.md): drop rows with NA in the model's columns, relabel frontal 0/1 as
# "notfrontal"/"frontal", fit
#   glm(dead ~ dvcat + seatbelt + frontal + sex + ageOFocc + yearVeh + airbag + occRole, binomial)
# The saved model keeps only what predict(type = "response") needs, so it stays small.

args <- commandArgs(trailingOnly = TRUE)
here <- local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(file_arg) == 1L) dirname(normalizePath(sub("^--file=", "", file_arg))) else getwd()
})
data_path <- if (length(args) >= 1L) args[[1L]] else
  file.path(here, "..", "..", "..", "shared", "data", "nassCDS.csv")
model_path <- if (length(args) >= 2L) args[[2L]] else file.path(here, "model", "model.rds")

columns <- c("dead", "dvcat", "seatbelt", "frontal", "sex", "ageOFocc", "yearVeh", "airbag",
             "occRole")
accidents <- read.csv(data_path, stringsAsFactors = TRUE)
missing_columns <- setdiff(columns, names(accidents))
if (length(missing_columns) > 0L) {
  stop(data_path, " lacks the columns ", paste(missing_columns, collapse = ", "))
}
accidents <- na.omit(accidents[, columns])
accidents$frontal <- factor(accidents$frontal, labels = c("notfrontal", "frontal"))

model <- glm(dead ~ dvcat + seatbelt + frontal + sex + ageOFocc + yearVeh + airbag + occRole,
             family = binomial, data = accidents)

# predict(type = "response") on new data needs the coefficients, terms, xlevels, contrasts,
# family and rank/qr pivot; the training data, fitted values, residuals, weights and the QR
# matrix are dead weight.
strip_glm <- function(m) {
  m$data <- NULL
  m$model <- NULL
  m$y <- NULL
  m$residuals <- NULL
  m$fitted.values <- NULL
  m$effects <- NULL
  m$linear.predictors <- NULL
  m$weights <- NULL
  m$prior.weights <- NULL
  m$qr$qr <- NULL
  m$qr$qraux <- NULL
  m$family$variance <- NULL
  m$family$dev.resids <- NULL
  m$family$aic <- NULL
  m$family$validmu <- NULL
  m$family$simulate <- NULL
  # The formula environments would drag the whole training frame along.
  attr(m$terms, ".Environment") <- globalenv()
  environment(m$formula) <- globalenv()
  m
}
small <- strip_glm(model)

check <- accidents[seq(1L, nrow(accidents), by = 97L), ]
full_prediction <- predict(model, check, type = "response")
small_prediction <- predict(small, check, type = "response")
if (!identical(unname(full_prediction), unname(small_prediction))) {
  stop("the stripped model predicts differently from the full one")
}

dir.create(dirname(model_path), recursive = TRUE, showWarnings = FALSE)
saveRDS(small, model_path)
message(sprintf("trained on %d rows; saved %s (%d bytes); AIC %.1f", nrow(accidents),
                model_path, file.size(model_path), model$aic))
