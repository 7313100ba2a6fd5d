-- wrk script for pipelined HTTP/1.1 (TechEmpower's plaintext shape): each
-- connection sends DEPTH requests at once (`wrk -s pipeline.lua URL -- 16`)
-- and wrk counts every answer. Prints the latency by quantile at the end,
-- as quantiles.lua (beside this file) does.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "quantiles.lua")

init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
