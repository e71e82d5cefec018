-- Shared by every scenario script: the run's parameters and pre-minted
-- tokens (from the files bench/run.sh writes into $BENCH_DATA), random
-- choices, and a done() hook that prints the results as one JSON line.
--
-- tokens.txt line k+1 is the token of user 1 + k * stride, so the wrk
-- scripts and the pgbench scripts draw users from the same set.

local data = assert(os.getenv("BENCH_DATA"), "BENCH_DATA is not set")

local function lines(name)
  local list = {}
  for line in io.lines(data .. "/" .. name) do
    if line ~= "" then list[#list + 1] = line end
  end
  return list
end

local params = {}
for _, line in ipairs(lines("params.txt")) do
  local key, value = line:match("^(%S+)=(.*)$")
  params[key] = value
end
P = params
INTERVIEWS = tonumber(params.interviews)
STRIDE = tonumber(params.stride)
DELETE_PAIRS = tonumber(params.delete_pairs)
NPOPULAR = tonumber(params.npopular)
HOT = tonumber(params.hot)
TOKENS = lines("tokens.txt")

-- A random token user: its index k (0-based) and its id.
function random_user()
  local k = math.random(0, #TOKENS - 1)
  return k, 1 + k * STRIDE
end

function auth(k)
  return { ["Authorization"] = "Bearer " .. TOKENS[k + 1] }
end

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
