from django.contrib import admin

from classifier.models import ModelPromotion, PendingPhoto, Sighting, Species, SpeciesPhoto


class SpeciesPhotoInline(admin.TabularInline):
    model = SpeciesPhoto
    extra = 0


@admin.register(Species)
class SpeciesAdmin(admin.ModelAdmin):
    list_display = ("name", "scientific_name", "slug")
    search_fields = ("name", "scientific_name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [SpeciesPhotoInline]


@admin.register(Sighting)
class SightingAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "species", "verdict", "observed_at", "visibility")
    list_filter = ("verdict", "visibility")
    search_fields = ("owner__username", "species__name", "place_name")
    raw_id_fields = ("owner", "species")


@admin.register(PendingPhoto)
class PendingPhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "verdict", "created_at")


@admin.register(ModelPromotion)
class ModelPromotionAdmin(admin.ModelAdmin):
    list_display = ("action", "version", "performed_by", "performed_at")
    readonly_fields = ("action", "version", "model_path", "metrics", "performed_by", "performed_at")
