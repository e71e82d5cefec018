-- GET /api/v1/interviews/{id}/favorited-by: the first page of one of the
-- most popular interviews (ids 1 .. npopular), with a random user's token.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("GET", "/api/v1/interviews/" .. math.random(1, NPOPULAR) .. "/favorited-by", auth(k))
end
