-- Reference, not a target: GET /readyz runs `SELECT 1` on a pooled
-- connection through web::block: the fixed cost of one round trip to the
-- database from a handler, with no token and no JSON from rows.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  return wrk.format("GET", "/readyz")
end
