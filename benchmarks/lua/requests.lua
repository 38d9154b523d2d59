-- Requests from a file, one per line: "METHOD<TAB>PATH<TAB>BEARER TOKEN or -<TAB>JSON BODY or -".
-- Each thread starts at its own offset and walks the list round-robin.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter)
end

function init(args)
  local items = {}
  for _, line in ipairs(common.lines(args[1])) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
    if body ~= "-" then headers["Content-Type"] = "application/json" else body = nil end
    items[#items + 1] = wrk.format(method, path, headers, body)
  end
  requests_list = items
  position = ((thread_index or 1) * 7919) % #items
end

function request()
  position = position % #requests_list + 1
  return requests_list[position]
end

done = common.done
