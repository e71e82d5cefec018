-- POST /api/v1/favorites/{id}/toggle: a random user toggles a random interview.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("POST", "/api/v1/favorites/" .. math.random(1, INTERVIEWS) .. "/toggle", auth(k))
end
