-- GET /api/v1/favorites?cursor=…: a page deep in an active user's list, with
-- a real next_cursor fetched before the run (deep.txt: "token cursor").
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local deep = {}
for line in io.lines(os.getenv("BENCH_DATA") .. "/deep.txt") do
  local token, cursor = line:match("^(%S+) (%S+)$")
  if token then deep[#deep + 1] = { token = token, cursor = cursor } end
end
request = function()
  local d = deep[math.random(1, #deep)]
  return wrk.format("GET", "/api/v1/favorites?cursor=" .. d.cursor,
    { ["Authorization"] = "Bearer " .. d.token })
end
