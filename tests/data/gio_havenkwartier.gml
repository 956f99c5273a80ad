<?xml version="1.0" encoding="UTF-8"?>
<geo:GeoInformatieObjectVaststelling xmlns:geo="https://standaarden.overheid.nl/stop/imop/geo/"
    xmlns:basisgeo="http://www.geostandaarden.nl/basisgeometrie/1.0" xmlns:gml="http://www.opengis.net/gml/3.2"
    schemaversie="1.3.0">
  <geo:vastgesteldeVersie>
    <geo:GeoInformatieObjectVersie>
      <geo:FRBRWork>/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1</geo:FRBRWork>
      <geo:FRBRExpression>/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1/nld@2026-01-05;12452657</geo:FRBRExpression>
      <geo:naam>Havenkwartier</geo:naam>
      <geo:locaties>
        <geo:Locatie>
          <geo:naam>Havenkwartier</geo:naam>
          <geo:geometrie>
            <basisgeo:Geometrie>
              <basisgeo:id>0f6a0c3e-3b0b-4b7e-9f5e-8a3c8d2b1e01</basisgeo:id>
              <basisgeo:geometrie>
                <gml:MultiSurface srsName="urn:ogc:def:crs:EPSG::28992" gml:id="id-hk-1">
                  <gml:surfaceMember>
                    <gml:Polygon gml:id="id-hk-1-1">
                      <gml:exterior><gml:LinearRing><gml:posList>234297.300 557408.500 234425.800 557354.900 234599.000 557435.700 234710.200 557615.600 234726.400 557860.700 234655.200 558104.400 234498.300 558257.600 234316.300 558299.200 234163.400 558207.600 234079.200 558017.000 234069.900 557760.900 234258.600 557719.500 234297.300 557408.500</gml:posList></gml:LinearRing></gml:exterior>
                    </gml:Polygon>
                  </gml:surfaceMember>
                </gml:MultiSurface>
              </basisgeo:geometrie>
            </basisgeo:Geometrie>
          </geo:geometrie>
        </geo:Locatie>
      </geo:locaties>
    </geo:GeoInformatieObjectVersie>
  </geo:vastgesteldeVersie>
</geo:GeoInformatieObjectVaststelling>
