-- POST /api/v1/favorites/{hot}/toggle: every request toggles the same interview.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("POST", "/api/v1/favorites/" .. HOT .. "/toggle", auth(k))
end
