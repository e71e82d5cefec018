-- PUT /api/v1/favorites/{hot}: every request favorites the same interview.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("PUT", "/api/v1/favorites/" .. HOT, auth(k))
end
