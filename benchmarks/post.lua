-- wrk script for the mlws benchmark: POST a fixed JSON body, then print the run's figures as one
-- JSON line (prefixed "BENCH_JSON ") so the harness does not depend on wrk's rounded text alone.
-- Inputs come from the environment: BENCH_BODY_FILE (request body), BENCH_AUTH (optional
-- Authorization header value), BENCH_CONTENT_TYPE (default application/json).
local body_file = os.getenv("BENCH_BODY_FILE")
local f = assert(io.open(body_file, "rb"), "cannot open BENCH_BODY_FILE")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"lat_mean_us":%.2f,"lat_max_us":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
