-- GET /api/v1/interviews: the first page, with a random user's token.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("GET", "/api/v1/interviews", auth(k))
end
