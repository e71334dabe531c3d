-- One event per request as a JSON object.
wrk.method = "POST"
wrk.path = "/tr/v1/tr/"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
wrk.body = '{"ename":"add_to_cart","etyp":"click","url":"https://shop.example/p/42?utm_source=news","oid":"site-1","vp_w":1280,"vp_h":720,"params":{"sku":"A-42","qty":2}}'
