-- The same request as get_event.lua, sent to the bare server.
wrk.method = "GET"
wrk.path = "/tr/v1/tr/ename/page_view/etyp/view/url/https%3A%2F%2Fshop.example%2Fp%2F42/oid/site-1?utm_source=news&utm_medium=email"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
wrk.headers["Accept-Language"] = "fr-FR,fr;q=0.9"
