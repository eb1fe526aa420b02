# The seed's entry script (Azure ML R SDK "Deploying models"), completed where the guide elides.
# init() runs once when the service starts; the function it returns runs for every request.

library(jsonlite)

init <- function() {
  # Get the path to the model location of the registered model
  model_path <- Sys.getenv("AZUREML_MODEL_DIR")
  # Load the model
  model <- readRDS(file.path(model_path, "model.rds"))
  message("logistic regression model loaded")

  # Called each time the web service is invoked
  function(data) {
    # Deserialize the input data to the service: a JSON array of records
    vars <- as.data.frame(fromJSON(data))
    # Evaluate the data on the deployed model
    prediction <- as.numeric(predict(model, vars, type = "response") * 100)
    # Return the prediction serialized to JSON
    toJSON(prediction)
  }
}
