-- GET /api/v1/interviews/{id}: a random interview, with a random user's token.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("GET", "/api/v1/interviews/" .. math.random(1, INTERVIEWS), auth(k))
end
