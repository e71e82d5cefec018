-- DELETE /api/v1/favorites/{id}: a random user removes one of the favorites
-- seeded for this scenario (pairs j in 0 .. delete_pairs/2 - 1; pgbench uses
-- the other half), so most requests delete a real row.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  local k, uid = random_user()
  local j = math.random(0, DELETE_PAIRS / 2 - 1)
  local iid = 1 + ((uid * 7919 + j * 104729) % INTERVIEWS)
  return wrk.format("DELETE", "/api/v1/favorites/" .. iid, auth(k))
end
