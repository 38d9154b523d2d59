-- Each request registers a new, unique email (thread index, counter and a run nonce).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter)
end

function init(args)
  nonce = args[1]
  password = args[2]
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"email": "r-%s-%d-%d@bench.example", "password": "%s", "confirm_password": "%s"}',
    nonce, thread_index, n, password, password)
  return wrk.format("POST", "/api/v1/auth/register", {["Content-Type"] = "application/json"}, body)
end

done = common.done
