-- PUT /api/v1/favorites/{id}: a random user favorites a random interview.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("PUT", "/api/v1/favorites/" .. math.random(1, INTERVIEWS), auth(k))
end
