-- wrk script: once the run is over, one line with the latency by quantile
-- in microseconds, for the plots of benches/ (benchlib.wrk reads it):
--   latency quantiles: [[0,212],[0.1,380],...,[1,9120]]
-- Other scripts (pipeline.lua) load it to print the same line.
local QUANTILES = { 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1 }

done = function(summary, latency, requests)
  local points = {}
  for i, q in ipairs(QUANTILES) do
    local us
    if q == 0 then
      us = latency.min
    elseif q == 1 then
      us = latency.max
    else
      us = latency:percentile(q * 100)
    end
    points[i] = string.format("[%s,%d]", tostring(q), us)
  end
  io.write("latency quantiles: [" .. table.concat(points, ",") .. "]\n")
end
