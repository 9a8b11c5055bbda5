-- Category rows of the interval with their window (`window` long, aligned to the epoch).
-- A snapshot stands for `sample` of watching (the sampling interval).
SELECT CAST(snapshot_time AS BIGINT) / {{window}} * {{window}} AS ws, snapshot_time,
       category_name, COALESCE(viewers, 0) AS viewers, COALESCE(live_channels, 0) AS live_channels
FROM categories
WHERE dt >= {{start_date}} AND dt <= {{last_date}}
  AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
