-- Reference, not a target: GET /healthz answers without the database or a
-- token, so this is what the HTTP stack alone (actix, the middleware, wrk
-- itself) costs on this machine.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
  return wrk.format("GET", "/healthz")
end
