-- 100 events per request, {"batch": [...]}.
wrk.method = "POST"
wrk.path = "/tr/v1/tr/"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
local events = {}
for i = 1, 100 do
  events[i] = string.format('{"ename":"scroll","etyp":"view","url":"https://shop.example/p/%d","oid":"site-1","score":%d,"params":{"depth":%d}}', i, i, i)
end
wrk.body = '{"batch":[' .. table.concat(events, ",") .. ']}'
