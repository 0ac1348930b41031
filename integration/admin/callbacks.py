from django.contrib import admin

from ..models import CallbackLog, CallbackSource

admin.site.register(CallbackSource)
admin.site.register(CallbackLog)
