-- The counts with their window bounds as UTC times, whether the window is final, and the
-- day partition (the window start's UTC date).
SELECT ws, arrow_cast(ws, 'Timestamp(µs, "UTC")') AS window_start,
       arrow_cast(ws + {{size}}, 'Timestamp(µs, "UTC")') AS window_end,
       tag, n, ws + {{size}} + {{lateness}} <= {{watermark_us}} AS final,
       to_char(arrow_cast(ws, 'Timestamp(µs, "UTC")'), '%Y-%m-%d') AS dt
FROM counts_raw
