"""The web: everything a browser or an HTTP client talks to; it only translates requests.

`http_api` is the FastAPI app (the Gradio pages mount on it), `customer_page` the customer's chat,
`chat_session` / `chat_view` what one customer's chat holds and shows, `page_strings` its words in six
languages, `customer_style` its look (and the compact layout of the `widget` frame), `metrics` the Prometheus
endpoint. `console/` is the operator console (one page builder, its stats and actions);
`integrations/` the help-desk integrations, each registered in `integrations.registry`.
"""
