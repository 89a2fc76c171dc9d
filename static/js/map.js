/* Maps (Leaflet, served from our static files): sightings as markers with a popup linking to
   each one ([data-map], markers in data-markers), and the place picker of the sighting form
   ([data-place-picker]: a click fills latitude and longitude, typed values move the marker).
   Tiles only when the site has a tile server (data-tiles); markers work without them. */
(function () {
  "use strict";
  if (typeof L === "undefined") return;

  var WORLD = [[-60, -170], [75, 170]];

  function baseMap(element) {
    var map = L.map(element, { worldCopyJump: true, zoomSnap: 0.5 });
    map.attributionControl.setPrefix(false);
    if (element.dataset.tiles) {
      L.tileLayer(element.dataset.tiles, {
        maxZoom: 19,
        attribution: element.dataset.attribution,
      }).addTo(map);
    }
    return map;
  }

  function icon(element) {
    return L.icon({
      iconUrl: element.dataset.icon,
      iconRetinaUrl: element.dataset.iconRetina,
      shadowUrl: element.dataset.iconShadow,
      iconSize: [25, 41],
      iconAnchor: [12, 41],
      popupAnchor: [1, -34],
      shadowSize: [41, 41],
    });
  }

  function popup(marker) {
    var link = document.createElement("a");
    link.href = marker.url;
    link.textContent = marker.label;
    return link;
  }

  function sightingsMap(element) {
    var markers = JSON.parse(element.dataset.markers || "[]");
    var map = baseMap(element);
    var pin = icon(element);
    var bounds = [];
    markers.forEach(function (marker) {
      L.marker([marker.lat, marker.lon], { icon: pin, alt: marker.label, title: marker.label })
        .bindPopup(popup(marker))
        .addTo(map);
      bounds.push([marker.lat, marker.lon]);
    });
    if (bounds.length) {
      map.fitBounds(bounds, { padding: [32, 32], maxZoom: 10 });
    } else {
      map.fitBounds(WORLD);
    }
  }

  function placePicker(element) {
    var latitude = document.getElementById(element.dataset.latitudeInput);
    var longitude = document.getElementById(element.dataset.longitudeInput);
    if (!latitude || !longitude) return;
    element.hidden = false;
    var help = document.querySelector("[data-place-picker-help]");
    if (help) help.hidden = false;
    var map = baseMap(element);
    var pin = icon(element);
    var marker = null;

    function typed() {
      var lat = parseFloat(latitude.value);
      var lon = parseFloat(longitude.value);
      if (isNaN(lat) || isNaN(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
      return L.latLng(lat, lon);
    }

    function show(position) {
      if (!marker) {
        marker = L.marker(position, { icon: pin, alt: "The sighting's place", keyboard: false });
        marker.addTo(map);
      } else {
        marker.setLatLng(position);
      }
    }

    var start = typed();
    if (start) {
      show(start);
      map.setView(start, 9);
    } else {
      map.fitBounds(WORLD);
    }
    map.on("click", function (event) {
      var position = event.latlng.wrap();
      latitude.value = position.lat.toFixed(6);
      longitude.value = position.lng.toFixed(6);
      show(position);
    });
    [latitude, longitude].forEach(function (input) {
      input.addEventListener("change", function () {
        var position = typed();
        if (position) {
          show(position);
          map.panTo(position);
        }
      });
    });
  }

  document.querySelectorAll("[data-map]").forEach(sightingsMap);
  document.querySelectorAll("[data-place-picker]").forEach(placePicker);
})();
