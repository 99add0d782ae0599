//! The HDHomeRun dialect of a published proxy: what Plex, Jellyfin and Emby read from an
//! HDHomeRun tuner (`discover.json`, `lineup.json`, `lineup_status.json`, `device.xml`), as
//! types and pure functions; the HTTP routes that serve them are the API's.
//!
//! A proxy is one emulated device, or several when its lineup is split
//! ([`ProxyInput::hdhomerun_channels_per_device`]): device `n` (from 1) carries the channels
//! numbered `(n - 1) * per_device + 1` to `n * per_device`. Channel numbers are stable, so a
//! channel stays on its device across generations; a device whose band has no channel is
//! empty, never renumbered.
//!
//! [`discovery`] is the UDP side: the replies that let media servers find the devices.
//!
//! The field types are the ones the clients parse (Jellyfin's `DiscoverResponse` and
//! `Channels`): every `discover.json` field a string but `TunerCount`, an integer; in
//! `lineup.json`, `GuideNumber` a string and `HD` a boolean, left out rather than null.
//! `ModelNumber` is `HDTC-2US`, a model that transcodes, so Jellyfin appends
//! `?transcode=<profile>` to a channel's `URL` (always with `?`: the URL carries no query).

use serde::Serialize;
use tvarr_core::{LineupChannel, ProxyId, ProxyInput};

pub mod discovery;

/// The model the devices claim to be: SiliconDust's HDHomeRun EXTEND (transcoding ATSC).
pub const MODEL_NUMBER: &str = "HDTC-2US";
/// Its firmware name.
pub const FIRMWARE_NAME: &str = "hdhomeruntc_atsc";
/// The firmware version announced.
pub const FIRMWARE_VERSION: &str = "20200101";
/// The most devices one proxy's lineup is split into.
pub const MAX_DEVICES: u32 = 1_000;

/// SiliconDust's check table for device ids (libhdhomerun's
/// `hdhomerun_discover_validate_device_id`).
const CHECK_TABLE: [u32; 16] = [
    0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0,
];

/// An HDHomeRun device id: 32 bits whose nibbles pass SiliconDust's check, written as eight
/// upper-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceId(u32);

impl DeviceId {
    /// The id of device `device` (from 1) of `proxy`: derived from the proxy's id alone, so
    /// the same across restarts, databases and machines, and different for each device.
    pub fn of(proxy: ProxyId, device: u32) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"tvarr hdhomerun device id\0");
        hasher.update(proxy.as_uuid().as_bytes());
        hasher.update(&device.to_be_bytes());
        let hash = hasher.finalize();
        let bytes = hash.as_bytes();
        let raw = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        // The last nibble enters the check as it is: set it to what makes the check 0.
        let mut body = raw & !0xF;
        // The wildcard id means "any device" on the network.
        if body | check(body) == u32::MAX {
            body ^= 0x10;
        }
        Self(body | check(body))
    }

    /// Whether `id` passes SiliconDust's check.
    pub fn is_valid(id: u32) -> bool {
        check(id) == 0
    }

    /// The id as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// The check of libhdhomerun over `id`: 0 for a valid id. Odd nibbles (from the top) go
/// through the table, even ones as they are.
fn check(id: u32) -> u32 {
    (0..8).fold(0, |sum, i| {
        let nibble = (id >> (28 - 4 * i)) & 0xF;
        sum ^ if i % 2 == 0 {
            CHECK_TABLE[nibble as usize]
        } else {
            nibble
        }
    })
}

/// One emulated device of a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its index, from 1.
    pub index: u32,
    /// The lowest channel number it carries.
    pub first_number: u32,
    /// The highest.
    pub last_number: u32,
}

impl Device {
    /// Device `index` (from 1) of a proxy whose devices carry `per_device` channels each (0:
    /// one device with every channel); `None` when the proxy has no such device.
    pub fn of(index: u32, per_device: u32) -> Option<Self> {
        if per_device == 0 {
            return (index == 1).then_some(Self {
                index,
                first_number: 0,
                last_number: u32::MAX,
            });
        }
        if index == 0 || index > MAX_DEVICES {
            return None;
        }
        let first = u64::from(index - 1) * u64::from(per_device) + 1;
        let last = first + u64::from(per_device) - 1;
        Some(Self {
            index,
            first_number: u32::try_from(first).ok()?,
            last_number: u32::try_from(last).unwrap_or(u32::MAX),
        })
    }

    /// The first device of a proxy: the only one when its lineup is not split.
    pub fn first(per_device: u32) -> Self {
        let split = per_device > 0;
        Self {
            index: 1,
            first_number: u32::from(split),
            last_number: if split { per_device } else { u32::MAX },
        }
    }

    /// The name media servers show for the device: the proxy's name, with the device's index
    /// when the lineup is split.
    pub fn friendly_name(&self, input: &ProxyInput) -> String {
        if input.hdhomerun_channels_per_device == 0 {
            input.name.clone()
        } else {
            format!("{} ({})", input.name, self.index)
        }
    }
}

/// `discover.json`: who the device is and where its lineup is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Discover {
    /// The proxy's name (with the device's index when the lineup is split).
    pub friendly_name: String,
    /// `Silicondust`.
    pub manufacturer: String,
    /// [`MODEL_NUMBER`].
    pub model_number: String,
    /// [`FIRMWARE_NAME`].
    pub firmware_name: String,
    /// [`FIRMWARE_VERSION`].
    pub firmware_version: String,
    /// Eight hex digits, stable per proxy and device.
    #[serde(rename = "DeviceID")]
    pub device_id: String,
    /// A token derived from the device id (clients send it back to SiliconDust's guide
    /// service; it grants nothing here).
    pub device_auth: String,
    /// The device's URL; its other files are below it.
    #[serde(rename = "BaseURL")]
    pub base_url: String,
    /// `<BaseURL>/lineup.json`.
    #[serde(rename = "LineupURL")]
    pub lineup_url: String,
    /// How many channels may be watched at once (an integer: Jellyfin reads an `int`).
    pub tuner_count: u32,
}

impl Discover {
    /// The `discover.json` of `device` of proxy `proxy`, served at `base_url`.
    pub fn new(proxy: ProxyId, input: &ProxyInput, device: Device, base_url: &str) -> Self {
        let id = DeviceId::of(proxy, device.index);
        let auth = blake3::hash(format!("tvarr hdhomerun auth {id}").as_bytes()).to_hex();
        Self {
            friendly_name: device.friendly_name(input),
            manufacturer: "Silicondust".into(),
            model_number: MODEL_NUMBER.into(),
            firmware_name: FIRMWARE_NAME.into(),
            firmware_version: FIRMWARE_VERSION.into(),
            device_id: id.to_string(),
            device_auth: auth[..24].to_string(),
            base_url: base_url.to_string(),
            lineup_url: format!("{base_url}/lineup.json"),
            tuner_count: input.tuner_count,
        }
    }
}

/// One channel of `lineup.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineupEntry {
    /// The channel number, as text.
    pub guide_number: String,
    /// The channel's name.
    pub guide_name: String,
    /// Where to play it: tvarr's stream URL of the channel, without a query.
    #[serde(rename = "URL")]
    pub url: String,
    /// Whether the name says it is high definition (`HD`, `FHD`, `UHD`, `4K`); left out when
    /// it does not.
    #[serde(rename = "HD", skip_serializing_if = "Option::is_none")]
    pub hd: Option<bool>,
}

impl LineupEntry {
    /// The entry of `channel` of proxy `proxy`, whose streams are below `base` (tvarr's
    /// public base URL).
    pub fn new(proxy: ProxyId, channel: &LineupChannel, base: &str) -> Self {
        Self {
            guide_number: channel.number.to_string(),
            guide_name: channel.data.name.clone(),
            url: format!("{base}/proxy/{proxy}/{}", channel.channel_id),
            hd: looks_hd(&channel.data.name).then_some(true),
        }
    }
}

/// Whether a channel name carries a high-definition marker as a word of its own.
fn looks_hd(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            ["HD", "FHD", "UHD", "4K", "HEVC"]
                .iter()
                .any(|marker| word.eq_ignore_ascii_case(marker))
        })
}

/// `lineup_status.json`: no scan is running, and one is possible (a scan changes nothing:
/// the lineup is the proxy's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineupStatus {
    /// 0.
    pub scan_in_progress: u8,
    /// 1.
    pub scan_possible: u8,
    /// `Cable`.
    pub source: String,
    /// `["Cable"]`.
    pub source_list: Vec<String>,
}

impl Default for LineupStatus {
    fn default() -> Self {
        Self {
            scan_in_progress: 0,
            scan_possible: 1,
            source: "Cable".into(),
            source_list: vec!["Cable".into()],
        }
    }
}

/// `device.xml`: the UPnP root device description of `discover`.
pub fn device_xml(discover: &Discover) -> String {
    let hash = blake3::hash(format!("tvarr hdhomerun udn {}", discover.device_id).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    let udn = uuid::Builder::from_random_bytes(bytes).into_uuid();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <root xmlns=\"urn:schemas-upnp-org:device-1-0\">\n\
         <specVersion><major>1</major><minor>0</minor></specVersion>\n\
         <URLBase>{base}</URLBase>\n\
         <device>\n\
         <deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>\n\
         <friendlyName>{name}</friendlyName>\n\
         <manufacturer>{manufacturer}</manufacturer>\n\
         <modelName>{model}</modelName>\n\
         <modelNumber>{model}</modelNumber>\n\
         <serialNumber>{serial}</serialNumber>\n\
         <UDN>uuid:{udn}</UDN>\n\
         </device>\n\
         </root>\n",
        base = escape(&discover.base_url),
        name = escape(&discover.friendly_name),
        manufacturer = escape(&discover.manufacturer),
        model = escape(&discover.model_number),
        serial = escape(&discover.device_id),
    )
}

/// `text` as XML character data, without the characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_pass_silicondusts_check_and_are_stable_and_distinct() {
        // libhdhomerun's own examples: the wildcard and 10100000 pass, 12345678 does not.
        assert!(DeviceId::is_valid(0xFFFF_FFFF));
        assert!(DeviceId::is_valid(0x1010_0000));
        assert!(!DeviceId::is_valid(0x1234_5678));
        let proxy: ProxyId = "0193a5b0-7e6f-7000-8000-000000000001".parse().unwrap();
        let first = DeviceId::of(proxy, 1);
        assert_eq!(first, DeviceId::of(proxy, 1), "the same id every time");
        assert_eq!(first.to_string().len(), 8);
        assert_eq!(first.to_string(), first.to_string().to_uppercase());
        let mut seen = std::collections::HashSet::new();
        for device in 1..=200 {
            let id = DeviceId::of(proxy, device);
            assert!(DeviceId::is_valid(id.get()), "{id}");
            assert_ne!(id.get(), u32::MAX);
            assert!(seen.insert(id), "device {device} repeats {id}");
        }
        for _ in 0..200 {
            let id = DeviceId::of(ProxyId::new(), 1);
            assert!(DeviceId::is_valid(id.get()), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn a_split_lineup_gives_each_device_a_band_of_numbers() {
        assert_eq!(
            Device::of(1, 0),
            Some(Device {
                index: 1,
                first_number: 0,
                last_number: u32::MAX
            })
        );
        assert_eq!(Device::of(2, 0), None, "unsplit: one device");
        let second = Device::of(2, 480).unwrap();
        assert_eq!((second.first_number, second.last_number), (481, 960));
        assert_eq!(Device::of(0, 480), None);
        assert_eq!(Device::of(MAX_DEVICES + 1, 480), None);
        assert_eq!(Device::first(480), Device::of(1, 480).unwrap());
        assert_eq!(Device::first(0), Device::of(1, 0).unwrap());
        let last = Device::of(MAX_DEVICES, 100_000).unwrap();
        assert_eq!(last.last_number, 100_000_000);
    }

    #[test]
    fn discover_json_has_the_fields_and_types_clients_read() {
        let proxy = ProxyId::new();
        let mut input = ProxyInput::named("Living room & more");
        input.tuner_count = 3;
        let discover = Discover::new(
            proxy,
            &input,
            Device::of(1, 0).unwrap(),
            "http://tv.test:8080/hdhr/x",
        );
        let json = serde_json::to_value(&discover).unwrap();
        assert_eq!(json["TunerCount"], 3, "an integer");
        assert_eq!(json["FriendlyName"], "Living room & more");
        assert_eq!(json["ModelNumber"], "HDTC-2US");
        assert_eq!(json["BaseURL"], "http://tv.test:8080/hdhr/x");
        assert_eq!(json["LineupURL"], "http://tv.test:8080/hdhr/x/lineup.json");
        assert_eq!(json["DeviceID"], DeviceId::of(proxy, 1).to_string());
        for key in [
            "FriendlyName",
            "Manufacturer",
            "ModelNumber",
            "FirmwareName",
            "FirmwareVersion",
            "DeviceID",
            "DeviceAuth",
            "BaseURL",
            "LineupURL",
        ] {
            assert!(json[key].is_string(), "{key} is a string");
        }
        input.hdhomerun_channels_per_device = 480;
        let split = Discover::new(proxy, &input, Device::of(2, 480).unwrap(), "http://b");
        assert_eq!(split.friendly_name, "Living room & more (2)");
        assert_ne!(split.device_id, discover.device_id);
    }

    #[test]
    fn device_xml_is_well_formed_with_hostile_names() {
        let mut input = ProxyInput::named("<b>&\"'\u{1}x");
        input.tuner_count = 1;
        let discover = Discover::new(
            ProxyId::new(),
            &input,
            Device::of(1, 0).unwrap(),
            "http://b",
        );
        let xml = device_xml(&discover);
        assert!(
            xml.contains("<friendlyName>&lt;b&gt;&amp;&quot;&apos;x</friendlyName>"),
            "{xml}"
        );
        assert!(xml.contains(&format!(
            "<serialNumber>{}</serialNumber>",
            discover.device_id
        )));
    }

    #[test]
    fn hd_is_read_from_whole_words_of_the_name() {
        assert!(looks_hd("BBC One HD"));
        assert!(looks_hd("Sky Sports [FHD]"));
        assert!(looks_hd("Film4 4K"));
        assert!(!looks_hd("HDTV Classics"), "not a word of its own");
        assert!(!looks_hd("Channel 5"));
    }
}
