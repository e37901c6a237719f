"""The ERPNext v15 emulator mounted under /sandbox/erpnext/ (only when SANDBOX is on).

`state` holds its tables and the vendor-side operations (save, cancel/amend, delete, the daily overdue
job, signed webhooks); `query` turns Frappe list parameters into queries; `api` serves the HTTP routes;
`demo_data` builds a year of documents from the field catalogue. Routes: `apps.erpnext.sandbox.urls`.
"""
