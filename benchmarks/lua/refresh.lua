-- Refresh chains: a queue of refresh tokens per thread. Each request spends the token at the head
-- of the queue; its response puts the new token at the tail (a failure drops the chain). The queue
-- holds one token more than the thread has connections, so it never runs dry: wrk calls request()
-- once on the first thread to check the script, and that token is never sent.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local counter = 0
local per_thread = tonumber(os.getenv("BENCH_CHAINS_PER_THREAD") or "0")

function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter)
end

function init(args)
  local all = common.lines(args[1])
  queue, head, tail = {}, 1, 0
  local first = ((thread_index or 1) - 1) * per_thread
  for i = first + 1, first + per_thread do
    tail = tail + 1
    queue[tail] = all[i]
  end
end

function request()
  local token = queue[head] or "exhausted"  -- a dropped chain shows as a 401 in the errors
  queue[head] = nil
  head = math.min(head + 1, tail + 1)
  local body = '{"refresh_token": "' .. token .. '"}'
  return wrk.format("POST", "/api/v1/auth/refresh", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if status == 200 and token then
    tail = tail + 1
    queue[tail] = token
  end
end

done = common.done
