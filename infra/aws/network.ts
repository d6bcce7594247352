// The lab's VPC: one public subnet for the bastion and the NAT gateway, one private subnet per
// zone for the nodes, and a free S3 gateway endpoint so image uploads bypass the NAT.
import { Construct } from 'constructs';
import { Eip } from '@cdktf/provider-aws/lib/eip/index.js';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway/index.js';
import { NatGateway } from '@cdktf/provider-aws/lib/nat-gateway/index.js';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association/index.js';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table/index.js';
import { Subnet } from '@cdktf/provider-aws/lib/subnet/index.js';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint/index.js';
import { Vpc } from '@cdktf/provider-aws/lib/vpc/index.js';
import { subnetCidr, type InfraProps, type ZoneProps } from './props.js';

export interface NetworkProps {
  readonly prefix: string;
  readonly region: string;
  readonly vpcCidr: string;
  readonly zones: InfraProps['zones'];
  /** Adds the S3 gateway endpoint to the private route table. */
  readonly s3Endpoint: boolean;
}

/** Subnet numbers inside the VPC: the public one first, the private ones from 10 up. */
const PUBLIC_SUBNET_INDEX = 0;
const FIRST_PRIVATE_SUBNET_INDEX = 10;

export class Network extends Construct {
  readonly vpc: Vpc;
  /** In the first zone; holds the bastion and the NAT gateway. */
  readonly publicSubnet: Subnet;
  /** One per zone, keyed by the zone's letter. */
  readonly privateSubnets: ReadonlyMap<string, Subnet>;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const [firstZone] = props.zones;
    this.vpc = new Vpc(this, 'vpc', {
      cidrBlock: props.vpcCidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: `${props.prefix}-vpc` },
    });

    const internetGateway = new InternetGateway(this, 'internet-gateway', {
      vpcId: this.vpc.id,
      tags: { Name: `${props.prefix}-igw` },
    });
    this.publicSubnet = new Subnet(this, 'public', {
      vpcId: this.vpc.id,
      availabilityZone: firstZone.availabilityZone,
      cidrBlock: subnetCidr(props.vpcCidr, PUBLIC_SUBNET_INDEX),
      // The bastion gets its address explicitly; nothing else here should get one by accident.
      mapPublicIpOnLaunch: false,
      tags: { Name: `${props.prefix}-public-${firstZone.letter}` },
    });
    const publicRoutes = new RouteTable(this, 'public-routes', {
      vpcId: this.vpc.id,
      route: [{ cidrBlock: '0.0.0.0/0', gatewayId: internetGateway.id }],
      tags: { Name: `${props.prefix}-public` },
    });
    new RouteTableAssociation(this, 'public-routes-association', {
      subnetId: this.publicSubnet.id,
      routeTableId: publicRoutes.id,
    });

    // Nodes reach Debian's mirrors (packages, CRIU's source) through one NAT gateway.
    const natAddress = new Eip(this, 'nat-address', { domain: 'vpc', tags: { Name: `${props.prefix}-nat` } });
    const natGateway = new NatGateway(this, 'nat-gateway', {
      allocationId: natAddress.allocationId,
      subnetId: this.publicSubnet.id,
      dependsOn: [internetGateway],
      tags: { Name: `${props.prefix}-nat` },
    });
    const privateRoutes = new RouteTable(this, 'private-routes', {
      vpcId: this.vpc.id,
      route: [{ cidrBlock: '0.0.0.0/0', natGatewayId: natGateway.id }],
      tags: { Name: `${props.prefix}-private` },
    });

    this.privateSubnets = new Map(
      props.zones.map((zone: ZoneProps, index) => {
        const subnet = new Subnet(this, `private-${zone.letter}`, {
          vpcId: this.vpc.id,
          availabilityZone: zone.availabilityZone,
          cidrBlock: subnetCidr(props.vpcCidr, FIRST_PRIVATE_SUBNET_INDEX + index),
          mapPublicIpOnLaunch: false,
          tags: { Name: `${props.prefix}-private-${zone.letter}` },
        });
        new RouteTableAssociation(this, `private-routes-association-${zone.letter}`, {
          subnetId: subnet.id,
          routeTableId: privateRoutes.id,
        });
        return [zone.letter, subnet] as const;
      }),
    );

    if (props.s3Endpoint) {
      new VpcEndpoint(this, 's3-endpoint', {
        vpcId: this.vpc.id,
        serviceName: `com.amazonaws.${props.region}.s3`,
        vpcEndpointType: 'Gateway',
        routeTableIds: [privateRoutes.id],
        tags: { Name: `${props.prefix}-s3` },
      });
    }
  }

  /** The private subnet of a zone; every zone of the props has one. */
  privateSubnet(zone: ZoneProps): Subnet {
    const subnet = this.privateSubnets.get(zone.letter);
    if (!subnet) throw new Error(`internal: no private subnet for zone ${zone.letter}`);
    return subnet;
  }
}
