-- GET /api/v1/favorites: the first page of a random user's favorites.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k = random_user()
  return wrk.format("GET", "/api/v1/favorites", auth(k))
end
