# mlws R worker: one long-lived R process serving one entry script (see runtime/r_script.py).
#
# Usage: Rscript r_worker.R <entry_script> <request_fd> <response_fd>
#
# The worker sources the entry script, calls its init() once and keeps the function init() returns.
# It then loops: read a request frame from <request_fd>, call the function with the request's JSON
# text, write a response frame to <response_fd>. The protocol has its own pipes, so anything the
# script prints (cat, print, message, warnings, even C-level printf) goes to stdout/stderr, which the
# Python side forwards to its log, and can never corrupt a frame.
#
# A frame is a 4-byte big-endian length followed by that many bytes; the first byte of a frame is its
# kind, the rest is UTF-8 text:
#   request  "S<json>"  score this JSON text            response "O<json>"  the JSON answer
#                                                        response "E<text>"  the R error message
#   (after init) "R" ready, or "E<text>" init() failed and the worker exits with status 1.
# End of file on <request_fd> (the Python side closed it) ends the worker with status 0.

options(warn = 1, keep.source = FALSE)

mlws_args <- commandArgs(trailingOnly = TRUE)
if (length(mlws_args) != 3L) {
  stop("usage: Rscript r_worker.R <entry_script> <request_fd> <response_fd>")
}
mlws_script <- mlws_args[[1L]]
mlws_in <- file(paste0("/dev/fd/", mlws_args[[2L]]), open = "rb", raw = TRUE)
mlws_out <- file(paste0("/dev/fd/", mlws_args[[3L]]), open = "wb", raw = TRUE)

mlws_send <- function(kind, text = "") {
  payload <- c(charToRaw(kind), charToRaw(enc2utf8(text)))
  writeBin(length(payload), mlws_out, size = 4L, endian = "big")
  writeBin(payload, mlws_out)
  flush(mlws_out)
}

mlws_receive <- function() {
  header <- readBin(mlws_in, "raw", 4L)
  if (length(header) < 4L) {
    return(NULL)
  }
  size <- readBin(header, "integer", size = 4L, endian = "big")
  payload <- readBin(mlws_in, "raw", size)
  if (length(payload) < size) {
    return(NULL)
  }
  payload
}

# "Error in <call>: <message>" like R prints it, so users see the text they know.
mlws_error_text <- function(e) {
  call <- conditionCall(e)
  message <- conditionMessage(e)
  if (is.null(call)) {
    paste0("Error: ", message)
  } else {
    paste0("Error in ", paste(deparse(call, nlines = 1L), collapse = ""), ": ", message)
  }
}

# A JSON text for what the scoring function returned:
# - a single string (e.g. jsonlite::toJSON(...)'s result) that is valid JSON is sent as it is;
# - any other value is serialised with jsonlite::toJSON(digits = NA, auto_unbox = FALSE), so a
#   vector of predictions is always a JSON array, even of length one (wrap a scalar in
#   jsonlite::unbox() to send it bare); a string that is not JSON becomes a JSON string.
mlws_to_json <- function(value) {
  if (is.character(value) && length(value) == 1L && !is.na(value)) {
    text <- as.character(value)
    if (!requireNamespace("jsonlite", quietly = TRUE) || jsonlite::validate(text)) {
      return(text)
    }
    return(as.character(jsonlite::toJSON(jsonlite::unbox(text))))
  }
  if (!requireNamespace("jsonlite", quietly = TRUE)) {
    stop("the scoring function returned a non-string value; serialising it needs the R package ",
         "jsonlite (Debian: r-cran-jsonlite), or return jsonlite::toJSON(...) yourself")
  }
  as.character(jsonlite::toJSON(value, digits = NA, auto_unbox = FALSE, null = "null", na = "null"))
}

# Named so that R's errors from the scoring function itself read "Error in run(data): ...".
mlws_call <- function(run, data) run(data)

mlws_predict <- tryCatch(
  {
    source(mlws_script, local = globalenv(), chdir = FALSE)
    if (!exists("init", envir = globalenv(), mode = "function", inherits = FALSE)) {
      stop("the entry script ", mlws_script, " does not define an init() function")
    }
    fn <- get("init", envir = globalenv())()
    if (!is.function(fn)) {
      stop("init() must return the scoring function(data); it returned a value of class ",
           paste(class(fn), collapse = "/"))
    }
    fn
  },
  error = function(e) {
    mlws_send("E", mlws_error_text(e))
    quit(save = "no", status = 1L)
  }
)
mlws_send("R")

repeat {
  mlws_request <- mlws_receive()
  if (is.null(mlws_request)) {
    break
  }
  mlws_kind <- rawToChar(mlws_request[1L])
  if (mlws_kind != "S") {
    mlws_send("E", paste0("mlws R worker: unknown request kind ", mlws_kind))
    next
  }
  mlws_reply <- tryCatch(
    {
      mlws_data <- if (length(mlws_request) > 1L) rawToChar(mlws_request[-1L]) else ""
      Encoding(mlws_data) <- "UTF-8"
      list(kind = "O", text = mlws_to_json(mlws_call(mlws_predict, mlws_data)))
    },
    error = function(e) list(kind = "E", text = mlws_error_text(e))
  )
  mlws_send(mlws_reply$kind, mlws_reply$text)
}
quit(save = "no", status = 0L)
